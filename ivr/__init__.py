"""The auto-attendant: ``/twilio/voice`` and its steps (``views.py``), how each answer is
built (``prompts.py``), what the caller chose (``choices.py``), and the domain work behind
them (``service.py``): the caller, business hours, and what each ending writes to the CRM.
What callers hear is the ``auto_attendant`` call script."""
