"""Sends an incident tool's lifecycle updates to Switchyard with the RudderStack Python SDK,
one track per update, named as iLert names its event types."""
import json
import os

from rudderstack.analytics.client import Client

SOURCE = {"id": 2193327, "name": "Test"}
ANA = {"id": 2193122, "username": "text", "firstName": "FirstName", "lastName": "LastName", "email": "example@acme.com"}


def incident(incident_id, summary, status, priority, assigned=None):
    properties = {
        "incidentId": str(incident_id),
        "summary": summary,
        "details": "My server is down" if incident_id == 3710705 else "Disk 91% full",
        "reportTime": "2021-08-06T08:16:01.154Z",
        "status": status,
        "priority": priority,
        "alertSource": SOURCE,
    }
    if assigned:
        properties["assignedTo"] = assigned
    return properties


UPDATES = [
    ("incident-created", incident(3710705, "test incident", "PENDING", "HIGH")),
    ("incident-assigned", incident(3710705, "test incident", "PENDING", "HIGH", ANA)),
    ("incident-auto-escalated", incident(3710705, "test incident", "PENDING", "HIGH", ANA)),
    ("incident-comment-added", incident(3710705, "test incident", "PENDING", "HIGH", ANA)),
    ("incident-acknowledged", incident(3710705, "test incident", "ACCEPTED", "HIGH", ANA)),
    ("incident-resolved", incident(3710705, "test incident", "RESOLVED", "HIGH", ANA)),
    ("incident-created", incident(3710711, "disk filling up", "PENDING", "LOW")),
    ("incident-resolved", incident(3710711, "disk filling up", "RESOLVED", "LOW")),
]

failures = []
client = Client(write_key=os.environ["EXAMPLE_WRITE_KEY"], host=os.environ["SWITCHYARD_URL"], max_retries=3,
                on_error=lambda error, batch: failures.append(error))
for event, properties in UPDATES:
    client.track(user_id="ilert", event=event, properties=properties)
client.flush()
client.join()
if failures:
    raise SystemExit(f"the SDK could not send: {failures}")
print(json.dumps({"sent": len(UPDATES)}))
