/** What the loader hands the widget bundle when it mounts it in the loader's shadow root. */
export interface MountOptions {
  agentId: string;
  publishableKey: string;
  /** The Engram server's base URL, without a trailing slash. */
  api: string;
  /** The loader's launcher button: the widget toggles it and returns focus to it. */
  launcher: HTMLButtonElement;
}

/** What the widget bundle gives back to the loader. */
export interface WidgetHandle {
  toggle(): void;
}

/** The widget bundle's module shape (engram.js, an ES module the loader imports). */
export interface WidgetModule {
  mount(root: ShadowRoot, options: MountOptions): WidgetHandle;
}
