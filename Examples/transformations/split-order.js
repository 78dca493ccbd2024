// Splits an order into one event per product (a fan-out), each with the order's id and its
// line total; other events go on unchanged.
export function transformEvent(event, metadata) {
  const products = event.properties?.products;
  if (event.event !== "Order Completed" || !Array.isArray(products)) return event;
  return products.map((product, i) => ({
    ...event,
    messageId: `${event.messageId}-${i + 1}`,
    event: "Order Line",
    properties: {
      order_id: event.properties.order_id,
      sku: product.sku,
      quantity: product.quantity,
      line_total: product.price * product.quantity,
    },
  }));
}
