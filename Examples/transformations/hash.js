// A library: a 32-bit FNV-1a hash of a string, for sampling that keeps all of a user's events
// together. Transformations import it with: import { fnv1a } from "hash";
export function fnv1a(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
