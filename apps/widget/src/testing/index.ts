// The widget's browser-test and benchmark harness: Debian's chromium through playwright-core, a
// host page on an origin of its own, and a stand-in Engram speaking the widget's wire protocol.
export { CHROMIUM_PATH, launchChromium, visit } from "./chromium.ts";
export { type HostPage, startHostPage, type WidgetTarget, widgetSnippet } from "./host-page.ts";
export {
  STAND_IN_ANSWER,
  STAND_IN_FAILING_MESSAGE,
  STAND_IN_FAILURE_DETAIL,
  startStandInEngram,
} from "./stand-in-engram.ts";
