"""The auto-attendant: ``/twilio/voice`` and its steps (``views.py``), and the domain work
behind them (``service.py``): the caller, the choice, business hours, and what each ending
writes to the CRM. What callers hear is the ``auto_attendant`` call script."""
