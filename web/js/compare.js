// The before/after slider: a range input (keyboard and assistive technology) and pointer drags on the picture
// (mouse and touch) move the same position; the original is clipped to the left of it.

export function setupCompare({ frame, before, handle, range }) {
  const show = (percent) => {
    const value = Math.min(100, Math.max(0, Math.round(percent)));
    range.value = String(value);
    range.setAttribute("aria-valuetext", `${value}% original, ${100 - value}% enhanced`);
    before.style.clipPath = `inset(0 ${100 - value}% 0 0)`;
    handle.style.left = `${value}%`;
  };
  const fromPointer = (event) => {
    const box = frame.getBoundingClientRect();
    if (box.width > 0) show(((event.clientX - box.left) / box.width) * 100);
  };
  range.addEventListener("input", () => show(Number(range.value)));
  frame.addEventListener("pointerdown", (event) => {
    try {
      frame.setPointerCapture(event.pointerId); // drags keep following outside the picture
    } catch {
      // a pointer the browser no longer tracks: this event still moves the slider
    }
    fromPointer(event);
  });
  frame.addEventListener("pointermove", (event) => {
    if (frame.hasPointerCapture(event.pointerId)) fromPointer(event);
  });
  show(Number(range.value));
  return { reset: () => show(50) };
}
