// Imported by `npm test` into the runner and every test file's process: once a process has run
// everything (its event loop is empty), it exits with the exit code the test runner set, without
// the full V8 teardown. That teardown frees the WebAssembly code of PGlite and of the embedder's
// worker threads, and V8 in Node 24 sometimes aborts there ("Check failed:
// jit_page_->allocations_.erase(addr) == 1", nodejs/node#64500), after every test of the file
// passed. Results and exit codes are unchanged: a failed test still fails the run.
process.once("beforeExit", () => process.exit(process.exitCode ?? 0));
