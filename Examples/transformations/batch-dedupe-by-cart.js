// transformBatch sees the events of one delivery batch together: here only the last
// "Cart Viewed" of each cart in the batch goes on.
export function transformBatch(events, metadata) {
  const last = new Map();
  events.forEach((event, i) => {
    if (event.event === "Cart Viewed") last.set(event.properties?.cart_id, i);
  });
  return events.filter((event, i) => event.event !== "Cart Viewed" || last.get(event.properties?.cart_id) === i);
}
