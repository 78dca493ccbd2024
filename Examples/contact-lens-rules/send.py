"""Sends analysed contacts to Switchyard with the RudderStack Python SDK, as a contact-center
backend would after each call's analysis."""
import json
import os

from rudderstack.analytics.client import Client

INSTANCE = "arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555"


def contact(n, agent, queue, categories, sentiment, realtime=False):
    return {
        "instanceArn": INSTANCE,
        "contactArn": f"{INSTANCE}/contact/contact-{n}",
        "agentArn": f"{INSTANCE}/agent/{agent}",
        "queueArn": f"{INSTANCE}/queue/{queue}",
        "categories": categories,
        "customerSentiment": sentiment,
        "realtime": realtime,
    }


CONTACTS = [
    # Wants to cancel and is upset: two rules match, two entries.
    contact(1, "agent-ana", "billing", ["cancellation", "billing"], -3),
    # Wants to cancel, calmly: one entry.
    contact(2, "agent-ben", "billing", ["cancellation"], 1),
    # Upset about a delivery: one entry.
    contact(3, "agent-ana", "support", ["delivery"], -4),
    # A happy customer: no rule matches, nothing is published.
    contact(4, "agent-cy", "support", ["compliment"], 4),
    # Escalated while the call was live: the realtime rule, with its own detail type.
    contact(5, "agent-ben", "support", ["escalation"], -1, realtime=True),
]

failures = []
client = Client(write_key=os.environ["EXAMPLE_WRITE_KEY"], host=os.environ["SWITCHYARD_URL"], max_retries=3,
                on_error=lambda error, batch: failures.append(error))
for n, properties in enumerate(CONTACTS, 1):
    client.track(user_id=f"customer-{n}", event="Contact Analyzed", properties=properties)
client.flush()
client.join()
if failures:
    raise SystemExit(f"the SDK could not send: {failures}")
print(json.dumps({"sent": len(CONTACTS)}))
