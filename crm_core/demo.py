"""A small dealership BDC for ``callcenter demo``: users, dealers, customers, leads, calls.

Everything goes through the same services the API uses, so the demo shows real behaviour
(stage changes, timeline, speed-to-lead) rather than rows typed into tables.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import acd, calls, leads, users
from crm_core.acd_schemas import QueueIn, QueueUpdate
from crm_core.clock import Clock
from crm_core.models import CallDirection, CallStatus, Dealer, LeadStage, User
from crm_core.schemas import LeadIn, OutcomeIn, StageChangeIn, UserIn

# Demo only: the demo binds to 127.0.0.1; a real installation adds users with `users add`.
DEMO_LOGINS = [
    ("ana", "agent", "ana-demo-pass"),
    ("luis", "agent", "luis-demo-pass"),
    ("sam", "supervisor", "sam-demo-pass"),
    ("admin", "admin", "admin-demo-pass"),
]
SKILLS = {"ana": {"sales": 8, "service": 5, "spanish": 7}, "luis": {"sales": 6, "finance": 7}}
QUEUES = [
    {"name": "sales", "display_name": "Sales", "required_skills": {"sales": 1}},
    {"name": "service", "display_name": "Service", "required_skills": {"service": 1}},
    {"name": "finance", "display_name": "Finance", "required_skills": {"finance": 1}},
    {
        "name": "spanish-sales",
        "display_name": "Ventas en español",
        "required_skills": {"sales": 1, "spanish": 5},
        "max_wait_seconds": 120,
        "overflow_action": "queue",
        "overflow_queue": "sales",
    },
]

# The simulated agents of the demo's traffic switch (console/demo.py): sim-1, sim-2, ... with
# every skill the demo's queues ask for, so any caller can reach them. Nobody logs in as them
# (their password is random and never shown); the traffic signs them in and out.
SIM_AGENT_PREFIX = "sim-"
SIM_SKILLS = {"sales": 5, "service": 5, "finance": 5, "spanish": 6}

CUSTOMERS = [
    # first, last, phone, email, source, source name, temperature, stage, vehicle of interest
    (
        "Maria",
        "Gonzalez",
        "+13135550101",
        "maria.g@example.com",
        "marketplace",
        "Cars.com",
        92,
        "qualified",
        ("Toyota", "RAV4", 2025),
    ),
    (
        "James",
        "Carter",
        "+13135550102",
        "jcarter@example.com",
        "website",
        "dealer site",
        75,
        "engaged",
        ("Ford", "F-150", 2024),
    ),
    (
        "Aisha",
        "Brown",
        "+13135550103",
        None,
        "google_ads",
        "Spring SUV campaign",
        64,
        "contacted",
        ("Honda", "CR-V", 2025),
    ),
    (
        "Daniel",
        "Nguyen",
        "+13135550104",
        "dnguyen@example.com",
        "phone",
        None,
        40,
        "new",
        ("Chevrolet", "Equinox", 2023),
    ),
    (
        "Sofia",
        "Ramirez",
        "+13135550105",
        "sofia.r@example.com",
        "referral",
        "Maria Gonzalez",
        85,
        "appointment_set",
        ("Toyota", "Camry", 2025),
    ),
    (
        "Robert",
        "Johnson",
        "+13135550106",
        None,
        "walk_in",
        None,
        20,
        "lost",
        ("Jeep", "Wrangler", 2022),
    ),
]


def seed(session: Session, clock: Clock) -> bool:
    """Create the demo data once; returns False when it is already there."""
    if session.scalars(select(User.id).where(User.username == "admin")).first():
        seed_acd(session, clock)  # a demo database made before the ACD existed
        return False
    for username, role, password in DEMO_LOGINS:
        users.create_user(
            session,
            UserIn(
                username=username,
                display_name=username.title(),
                role=role,
                skills=SKILLS.get(username, {}),
                password=password,
            ),
            clock,
        )
    ana = session.scalars(select(User).where(User.username == "ana")).one()
    north = Dealer(
        name="Northside Motors",
        region="Detroit metro",
        phone="+13135550190",
        time_zone="America/Detroit",
        capacity_per_day=40,
    )
    lake = Dealer(
        name="Lakeshore Auto Finance",
        region="Chicago",
        phone="+13125550191",
        time_zone="America/Chicago",
        capacity_per_day=25,
    )
    session.add_all([north, lake])
    session.flush()
    now = clock.now()
    for i, (first, last, phone, email, source, name, temp, stage, car) in enumerate(CUSTOMERS):
        data = {
            "customer": {
                "first_name": first,
                "last_name": last,
                "phones": [phone],
                "email": email,
                "preferred_makes": [car[0]],
            },
            "source_type": source,
            "source_name": name,
            "temperature": temp,
            "dealer_id": north.id if i % 2 == 0 else lake.id,
            "assigned_agent_id": ana.id,
            "vehicles": [
                {
                    "relation": "interest",
                    "make": car[0],
                    "model": car[1],
                    "year": car[2],
                    "condition": "new" if car[2] >= 2025 else "used",
                }
            ],
        }
        if source == "google_ads":
            data["gclid"] = f"demo-gclid-{i}"
        lead = leads.create_lead(session, LeadIn.model_validate(data), clock)
        sid = f"CA{'demo':0>4}{i:0>28}"
        calls.log_call(
            session,
            call_sid=sid,
            direction=CallDirection.OUTBOUND_API,
            from_number="+13135550100",
            to_number=phone,
            clock=clock,
            status=CallStatus.COMPLETED,
            agent_id=ana.id,
            customer_id=lead.customer_id,
            lead_id=lead.id,
            queue="sales",
            wait_seconds=0,
            talk_seconds=120 + 30 * i,
        )
        if stage == "appointment_set":
            outcome = {
                "disposition": "appointment_set",
                "notes": "Test drive booked",
                "appointment": {
                    "type": "test_drive",
                    "start_at": (now + timedelta(days=2)).isoformat(),
                },
            }
        elif stage == "lost":
            outcome = {"disposition": "not_interested", "notes": "Bought elsewhere"}
        elif stage == "new":
            continue
        elif stage == "contacted":
            outcome = {"disposition": "left_voicemail"}
        elif stage == "engaged":
            outcome = {
                "disposition": "callback",
                "notes": "Call after 5 pm",
                "callback": {"due_at": (now + timedelta(hours=4)).isoformat()},
            }
        else:
            outcome = {"disposition": "qualified", "notes": "Pre-approved, wants AWD"}
        calls.record_call_outcome(session, sid, OutcomeIn.model_validate(outcome), clock, actor=ana)
        if lead.stage is not LeadStage(stage):
            leads.change_stage(session, lead.id, StageChangeIn(stage=stage), clock)
    seed_acd(session, clock)
    open_around_the_clock(session, clock)
    return True


def open_around_the_clock(session: Session, clock: Clock) -> None:
    """The demo answers at any hour: a newcomer trying it at night should hear the menu and
    reach an agent, not the after-hours message of the default queues (migration 0005)."""
    for queue in acd.list_queues(session):
        if queue.hours:
            acd.update_queue(session, queue.id, QueueUpdate(hours={}), clock)


def sim_agents(session: Session, count: int, clock: Clock) -> list[User]:
    """The first ``count`` simulated agents (sim-1 …), created when missing."""
    found = []
    for n in range(1, count + 1):
        username = f"{SIM_AGENT_PREFIX}{n}"
        user = session.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None:
            user = users.create_user(
                session,
                UserIn(
                    username=username,
                    display_name=f"Sim {n}",
                    role="agent",
                    skills=SIM_SKILLS,
                    password=secrets.token_urlsafe(24),
                ),
                clock,
            )
        found.append(user)
    return found


def seed_acd(session: Session, clock: Clock) -> None:
    """The demo's queues, and the agents' skills they route on; each queue only once, and the
    skills only along with the first queues (an admin's later changes are kept)."""
    existing = {q.name for q in acd.list_queues(session)}
    if not existing:
        for username, skills in SKILLS.items():
            agent = session.scalars(select(User).where(User.username == username)).one_or_none()
            if agent is not None:
                acd.set_agent_skills(session, agent.id, skills)
    for data in QUEUES:
        if data["name"] not in existing:
            acd.create_queue(session, QueueIn.model_validate(data), clock)
