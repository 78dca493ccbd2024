"""Sends a shop's events to Switchyard with the RudderStack Python SDK: two customers' orders
(one with a card number typed into its note), a page view, and a test user's order, which the
transformations drop."""
import json
import os

from rudderstack.analytics.client import Client

failures = []
client = Client(write_key=os.environ["EXAMPLE_WRITE_KEY"], host=os.environ["SWITCHYARD_URL"], max_retries=3,
                on_error=lambda error, batch: failures.append(error))

client.identify(user_id="ana", traits={"email": "ana@shop.example.org", "plan": "gold"})
client.track(user_id="ana", event="Order Completed", context={"traits": {"email": "ana@shop.example.org"}}, properties={
    "order_id": "o-1001",
    "products": [{"sku": "TEA-01", "quantity": 2, "price": 4.5}, {"sku": "CUP-07", "quantity": 1, "price": 12}],
})
client.track(user_id="ben", event="Order Completed", properties={
    "order_id": "o-1002",
    "note": "pay with 4111 1111 1111 1111 please",
    "products": [{"sku": "POT-02", "quantity": 1, "price": 30}],
})
client.page(user_id="ben", name="Thank you", properties={"path": "/thanks", "note": "card 5500-0000-0000-0004"})
client.track(user_id="qa-bot", event="Order Completed", context={"traits": {"email": "qa@example.com"}}, properties={
    "order_id": "o-test", "products": [{"sku": "TEST", "quantity": 1, "price": 1}],
})
client.flush()
client.join()
if failures:
    raise SystemExit(f"the SDK could not send: {failures}")
print(json.dumps({"sent": 5}))
