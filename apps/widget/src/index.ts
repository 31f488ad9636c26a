// @engram/widget: the embeddable chat widget as `engram serve` hands it out. Its browser code is
// in src/ui/ (checked by this folder's tsconfig.json); this entry builds it in memory (esbuild)
// and answers requests for it. The browser-test harness is @engram/widget/testing.
export { buildWidget, type WidgetAssets, widgetAssets } from "./build.ts";
export {
  WIDGET_PATHS,
  type WidgetPath,
  type WidgetResponse,
  widgetResponse,
} from "./widget-response.ts";
