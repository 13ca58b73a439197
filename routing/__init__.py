"""The ACD: agents, queues, reservations and the outbound dialer; live state in Redis."""
