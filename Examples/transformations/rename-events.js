// Renames events to the names the consumers expect, and fills in what older app versions
// leave out.
const NAMES = {
  "Order Completed": "order_completed",
  "Product Added": "cart_item_added",
};

export function transformEvent(event, metadata) {
  if (event.type === "track" && NAMES[event.event]) event.event = NAMES[event.event];
  event.properties = event.properties || {};
  if (event.properties.currency === undefined) event.properties.currency = "USD";
  event.context = event.context || {};
  event.context.transformedBy = metadata(event).transformationName;
  return event;
}
