// Choosing the photo: file picker, drag and drop, paste; checked here before anything is sent.

export const MAX_BYTES = 10 * 1024 * 1024; // the API's limit (MAX_IMAGE_BYTES)
export const NO_FILE = "Choose a photo first.";
const SIGNATURES = [
  { type: "image/jpeg", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: "image/png", test: (b) => [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v) },
  { type: "image/webp", test: (b) => String.fromCharCode(...b.slice(0, 4)) === "RIFF"
                                     && String.fromCharCode(...b.slice(8, 12)) === "WEBP" },
];

function megabytes(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// The file's real type from its first bytes (a name or a browser's guess can be wrong), or an error to show.
export async function checkFile(file) {
  if (!file) return { error: NO_FILE };
  if (file.size === 0) return { error: `${file.name} is empty.` };
  if (file.size > MAX_BYTES) {
    return { error: `${file.name} is ${megabytes(file.size)}: the limit is 10 MB. Try a smaller photo.` };
  }
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const found = SIGNATURES.find((s) => s.test(head));
  if (!found) return { error: `${file.name || "This file"} is not a JPEG, PNG or WebP image.` };
  return { type: found.type };
}

export function describeFile(file) {
  return `${file.name || "Pasted image"} · ${megabytes(file.size)}`;
}

// Calls `choose(file)` for a picked, dropped or pasted file.
export function watchFileSources({ input, zone, choose }) {
  input.addEventListener("change", () => { if (input.files[0]) choose(input.files[0]); });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer?.files?.[0];
    if (file) choose(file);
  });
  // A file dropped beside the zone would otherwise replace the page with it.
  for (const type of ["dragover", "drop"]) {
    document.addEventListener(type, (event) => { if (!zone.contains(event.target)) event.preventDefault(); });
  }
  document.addEventListener("paste", (event) => {
    const file = Array.from(event.clipboardData?.files ?? []).find(Boolean);
    if (!file) return;
    event.preventDefault();
    choose(file);
  });
}
