"""The compact CRM: customers, leads, calls, appointments, tasks, consent and the timeline.

Plain Python and SQLAlchemy; no Flask here. Services take a session and a clock.
"""
