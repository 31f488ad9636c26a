// The widget's own styles, inside the loader's shadow root (which already resets :host). Lengths
// are in px, never rem: the host page's root font size must not scale the widget.
export const WIDGET_CSS = `
[hidden]{display:none!important}
*{box-sizing:border-box}
.panel{position:absolute;right:0;bottom:72px;width:min(380px,calc(100vw - 40px));height:min(560px,calc(100vh - 112px));display:flex;flex-direction:column;background:#fff;color:#1f2328;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.28);overflow:hidden;font:inherit;text-align:left}
.head{display:flex;align-items:center;justify-content:space-between;gap:8px;padding:12px 14px;background:#2453d6;color:#fff}
.head h2{margin:0;font:600 16px/1.3 inherit;font-family:inherit;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
button{font:inherit;cursor:pointer}
.x{all:unset;cursor:pointer;width:32px;height:32px;border-radius:8px;display:grid;place-items:center;font-size:22px;line-height:1;color:#fff}
.x:hover{background:rgba(255,255,255,.15)}
:focus-visible{outline:3px solid #8aa8ff;outline-offset:2px}
.log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px;background:#f6f7f9}
.m{max-width:88%;padding:9px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere;font-size:15px;line-height:1.45}
.user{align-self:flex-end;background:#2453d6;color:#fff;border-bottom-right-radius:4px}
.assistant{align-self:flex-start;background:#fff;color:#1f2328;border:1px solid #dde1e6;border-bottom-left-radius:4px}
.assistant[aria-busy=true] .t:empty::after{content:"…";color:#57606a}
.assistant:not([aria-busy=true]) .t:empty{display:none}
.t:empty+div>:first-child{margin-top:0}
.c{list-style:none;margin:8px 0 0;padding:8px 0 0;border-top:1px solid #e5e8eb;display:flex;flex-wrap:wrap;gap:6px;white-space:normal}
.c li{font-size:12px;line-height:1.3;padding:3px 8px;border-radius:999px;background:#eef2fd;color:#1b3f9e}
.c .ct{font-weight:600}
.e{margin:6px 0 0;color:#b42318;font-size:14px;white-space:normal}
.note{margin:6px 0 0;color:#57606a;font-size:13px;font-style:italic}
.notice{margin:0;padding:8px 14px;background:#fef3f2;color:#b42318;font-size:14px;border-top:1px solid #fecdca}
.form{display:flex;gap:8px;padding:10px;border-top:1px solid #dde1e6;background:#fff}
.form input{flex:1;min-width:0;font:inherit;font-size:15px;color:#1f2328;background:#fff;padding:9px 12px;border:1px solid #c9ced6;border-radius:10px}
.send{all:unset;cursor:pointer;width:40px;border-radius:10px;background:#2453d6;color:#fff;display:grid;place-items:center}
.send:disabled{opacity:.5;cursor:default}
.send svg{width:18px;height:18px;fill:currentColor}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
`;
