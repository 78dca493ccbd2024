// Drops events from test users and from the staging site; every other event goes on unchanged.
const TEST_EMAIL = /@(example\.com|test\.invalid)$/i;

export function transformEvent(event, metadata) {
  const email = event.context?.traits?.email ?? event.traits?.email ?? "";
  if (TEST_EMAIL.test(email)) {
    log("dropped a test user's event", event.messageId);
    return null;
  }
  if ((event.context?.page?.url ?? "").startsWith("https://staging.")) return;
  return event;
}
