// Keeps the events of one user in four, chosen by a hash of the user, so a sampled user's
// journey stays whole. Identify calls always go through.
import { fnv1a } from "hash";

const KEEP_ONE_IN = 4;

export function transformEvent(event, metadata) {
  if (event.type === "identify") return event;
  const who = event.userId || event.anonymousId || "";
  return fnv1a(who) % KEEP_ONE_IN === 0 ? event : null;
}
