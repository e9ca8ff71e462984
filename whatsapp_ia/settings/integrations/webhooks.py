"""Provider webhooks: what a POST may cost us before and after its signature is checked.

Real provider payloads are a few KB (Meta batches of statuses stay well under 1 MB);
anything else is either a mistake or someone filling the database, so a rejected POST
keeps its metadata and only its first bytes, and a client that keeps failing is cut off.
"""

from whatsapp_ia.env import env

# Largest webhook body accepted, in bytes (a larger one gets 413 and only its head is kept).
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Seconds a client has to send a webhook POST's whole body once its headers are in; then 408.
WEBHOOK_READ_TIMEOUT = env.float("WEBHOOK_READ_TIMEOUT", default=10.0)
# Bytes of a rejected POST's body kept with its metadata (bad signature, too large).
WEBHOOK_REJECTED_KEEP_BYTES = env.int("WEBHOOK_REJECTED_KEEP_BYTES", default=4096)
# Rejected POSTs kept per client address per minute; beyond that: 429, not stored, only counted.
WEBHOOK_REJECTED_PER_MINUTE = env.int("WEBHOOK_REJECTED_PER_MINUTE", default=20)
# Seconds a webhook POST waits for the writer thread to store it before it gets a 503.
WEBHOOK_WRITER_WAIT = env.float("WEBHOOK_WRITER_WAIT", default=10.0)
# Raw deliveries are deleted after these many days: parsed ones (processed, partial, failed) and
# rejected ones (0 keeps them forever). Deliveries not parsed yet are never deleted.
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)
WEBHOOK_REJECTED_RETENTION_DAYS = env.int("WEBHOOK_REJECTED_RETENTION_DAYS", default=3)
# How often (seconds) the scheduler deletes expired deliveries.
WEBHOOK_RETENTION_INTERVAL = env.int("WEBHOOK_RETENTION_INTERVAL", default=3600)
