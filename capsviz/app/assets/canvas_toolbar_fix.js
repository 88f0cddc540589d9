// streamlit-drawable-canvas parks its (invisible) undo/redo/erase toolbar over the top-right corner of
// the drawing area until the pointer has hovered there for 0.1 s, so a stroke begun there at once is lost.
// Its styles live in a shadow root: add one rule there so the toolbar sits above the canvas, always visible.
(() => {
  if (window.__capsvizToolbarFix) return;
  window.__capsvizToolbarFix = true;
  const rule = ".dc-toolbar{top:-2.65rem!important;padding-bottom:0!important;opacity:1!important}";
  const watched = new WeakSet(); // the canvas fills its shadow root after mounting: watch each root too
  const patch = () => {
    for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      const root = host.shadowRoot;
      if (!root) { setTimeout(patch, 50); continue; } // its shadow root is attached after it is inserted
      if (!watched.has(root)) {
        watched.add(root);
        new MutationObserver(patch).observe(root, { childList: true, subtree: true });
      }
      if (root.querySelector(".dc-toolbar") && !root.getElementById("capsviz-toolbar-fix")) {
        const style = document.createElement("style");
        style.id = "capsviz-toolbar-fix";
        style.textContent = rule;
        root.appendChild(style);
      }
    }
  };
  new MutationObserver(patch).observe(document.body, { childList: true, subtree: true });
  patch();
})();
