// better-sqlite3's API, as far as mem0ai's OSS stores use it (a Database with exec, prepare →
// run/get/all, transaction, close), over Node's built-in SQLite (node:sqlite). mem0ai imports
// better-sqlite3 statically, and better-sqlite3 is a native module whose install downloads a
// prebuilt binary or compiles C++ (ADR 0037 keeps it out of the project); see ADR 0042.
import { DatabaseSync } from "node:sqlite";

export default class Database extends DatabaseSync {
  /** better-sqlite3's transaction(fn): a function that runs fn inside BEGIN … COMMIT. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A) => {
      this.exec("BEGIN");
      try {
        const result = fn(...args);
        this.exec("COMMIT");
        return result;
      } catch (err) {
        this.exec("ROLLBACK");
        throw err;
      }
    };
  }
}
