// Replaces anything shaped like a payment card number, in any string field at any depth, so
// it never leaves the pipeline.
const CARD = /\b(?:\d[ -]?){13,19}\b/g;

function mask(value) {
  if (typeof value === "string") return value.replace(CARD, "[card]");
  if (Array.isArray(value)) return value.map(mask);
  if (value && typeof value === "object") {
    for (const key of Object.keys(value)) value[key] = mask(value[key]);
  }
  return value;
}

export function transformEvent(event, metadata) {
  return mask(event);
}
