// Keeps an element where it is on the screen while status lines above it come and go (the sync
// banner going offline and online, the alarm banner, a reply notice, a reminder line): a press
// lands where the button was when the finger aimed, and on My shift that button may be "Send
// emergency". Nothing is overlaid or cut short: the page scrolls by exactly what was added or
// removed above, before the browser paints (as CSS scroll anchoring does, which WebKit lacks and
// which does nothing at the top of a page). When the page cannot scroll back far enough (at the
// very top when something above goes away), the space is kept empty above the element instead,
// and given back unseen once the page has scrolled past it.

/** A Svelte action: `<div use:holdStill>`. */
export function holdStill(node: HTMLElement): { destroy(): void } {
  const column = node.closest<HTMLElement>('.column') ?? document.body;
  // Where `node` should be on screen. A scroll moves it by exactly the scroll (never re-measured
  // then: a scroll event can come after a banner grew and before this saw it, and would take the
  // move as the new place).
  let top = node.getBoundingClientRect().top;
  let scrolled = window.scrollY;
  let width = window.innerWidth;
  // Empty space kept above `node` (px) because the page could not scroll back.
  let slack = 0;

  const setSlack = (px: number) => {
    slack = Math.max(0, px);
    node.style.marginTop = slack > 0 ? `${slack}px` : '';
  };

  const settle = () => {
    if (window.innerWidth !== width) {
      // A rotation or a resized window: everything reflows, nothing to hold still.
      width = window.innerWidth;
      top = node.getBoundingClientRect().top;
      scrolled = window.scrollY;
      return;
    }
    let moved = node.getBoundingClientRect().top - top;
    if (Math.abs(moved) < 0.5) return;
    if (moved > 0 && slack > 0) {
      // Something came back above: use the kept space first.
      setSlack(slack - Math.min(slack, moved));
      moved = node.getBoundingClientRect().top - top;
    }
    if (Math.abs(moved) >= 0.5) {
      const before = window.scrollY;
      window.scrollBy(0, moved);
      const short = moved - (window.scrollY - before);
      // Could not scroll up far enough (the top of the page): keep the space instead.
      if (short < -0.5) setSlack(slack - short);
    }
    scrolled = window.scrollY;
  };

  const onScroll = () => {
    top -= window.scrollY - scrolled;
    scrolled = window.scrollY;
    if (slack > 0 && window.scrollY >= slack) {
      // Scrolled past the kept space: give it back without anything on screen moving.
      const s = slack;
      setSlack(0);
      window.scrollBy(0, -s);
      scrolled = window.scrollY;
    }
  };

  // The browser's own scroll anchoring (Chromium) would compensate some of the same moves, on its
  // own terms, and its scroll would read here as the user's: one of the two only.
  const roots = [document.documentElement, document.body];
  for (const el of roots) el.style.overflowAnchor = 'none';

  // Fires after layout and before paint whenever the page's column changes height.
  const observer = new ResizeObserver(settle);
  observer.observe(column);
  for (const child of Array.from(column.children)) observer.observe(child);
  window.addEventListener('scroll', onScroll, { passive: true });
  return {
    destroy() {
      observer.disconnect();
      window.removeEventListener('scroll', onScroll);
      node.style.marginTop = '';
      for (const el of roots) el.style.overflowAnchor = '';
    },
  };
}
