#!/usr/bin/python3
"""The quota check of the original Python service, for kauri_quota_bench.

Each request is one transaction through the SQLAlchemy ORM, as the original
service ran it: load the user and the tier that applies (the free tier when
the subscription has lapsed), lock the user's usage row for the day with
SELECT ... FOR UPDATE, check the daily, monthly and token limits, then
increment the counters and add the audit row. It runs on the library's own
tables (users, subscription_tiers, user_usage, usage_logs) in a database the
benchmark created and migrated, so that both do the same work on the same
server.

Usage: original_flow.py --dsn CONNINFO --processes N --seconds S
                        [--requests N] [--user-prefix PREFIX]

Each process uses its own user (PREFIX0, PREFIX1, ...), which must exist.
Prints one JSON object: processes, requests, seconds and rate (requests per
second over the common measuring window).
"""

import argparse
import datetime
import json
import multiprocessing
import sys
import time

import psycopg2
from sqlalchemy import BigInteger, Column, Date, DateTime, Integer, String, create_engine
from sqlalchemy.orm import Session, declarative_base

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    user_id = Column(String, primary_key=True)
    subscription_tier = Column(String(20))
    subscription_status = Column(String(20))
    subscription_end_date = Column(DateTime)
    trial_end_date = Column(DateTime)


class SubscriptionTier(Base):
    __tablename__ = "subscription_tiers"
    tier_id = Column(String(20), primary_key=True)
    messages_per_day = Column(BigInteger)
    messages_per_month = Column(BigInteger)
    tokens_per_month = Column(BigInteger)


class UserUsage(Base):
    __tablename__ = "user_usage"
    id = Column(Integer, primary_key=True)
    user_id = Column(String, nullable=False)
    usage_date = Column(Date, nullable=False)
    messages_today = Column(BigInteger, nullable=False, default=0)
    tokens_today = Column(BigInteger, nullable=False, default=0)
    messages_this_month = Column(BigInteger, nullable=False, default=0)
    tokens_this_month = Column(BigInteger, nullable=False, default=0)
    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime, nullable=False)


class UsageLog(Base):
    __tablename__ = "usage_logs"
    id = Column(Integer, primary_key=True)
    user_id = Column(String, nullable=False)
    event_type = Column(String(50), nullable=False)
    messages_count = Column(BigInteger, nullable=False)
    tokens_count = Column(BigInteger, nullable=False)
    quota_tier = Column(String(20))
    event_timestamp = Column(DateTime, nullable=False)
    usage_date = Column(Date)


def within(limit, value):
    return limit is None or value <= limit


def handle(session, user_id, tokens):
    """One request: check before processing, increment after."""
    now = datetime.datetime.utcnow()
    today = now.date()
    with session.begin():
        user = session.get(User, user_id)
        if user is None:
            raise RuntimeError(f"unknown user {user_id}")
        tier_id = user.subscription_tier
        lapsed = (
            user.subscription_status in ("canceled", "expired")
            or (user.subscription_end_date is not None and user.subscription_end_date <= now)
            or (user.subscription_status == "trialing" and user.trial_end_date is not None
                and user.trial_end_date <= now)
        )
        if lapsed:
            tier_id = "free"
        tier = session.get(SubscriptionTier, tier_id)
        usage = (
            session.query(UserUsage)
            .filter_by(user_id=user_id, usage_date=today)
            .with_for_update()
            .one_or_none()
        )
        if usage is None:
            usage = UserUsage(user_id=user_id, usage_date=today, messages_today=0, tokens_today=0,
                              messages_this_month=0, tokens_this_month=0, created_at=now, updated_at=now)
            session.add(usage)
        allowed = (
            within(tier.messages_per_day, usage.messages_today + 1)
            and within(tier.messages_per_month, usage.messages_this_month + 1)
            and within(tier.tokens_per_month, usage.tokens_this_month + tokens)
        )
        if allowed:
            usage.messages_today += 1
            usage.tokens_today += tokens
            usage.messages_this_month += 1
            usage.tokens_this_month += tokens
            usage.updated_at = now
        session.add(UsageLog(user_id=user_id, event_type="message_sent" if allowed else "quota_exceeded",
                             messages_count=1 if allowed else 0, tokens_count=tokens if allowed else 0,
                             quota_tier=tier_id, event_timestamp=now, usage_date=today))
    return allowed


def worker(dsn, user_id, seconds, requests, barrier, out):
    engine = create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(dsn), pool_size=1)
    with Session(engine) as session:
        # A few requests first, so that the connection, the ORM's compiled
        # statements and the server's caches are warm when the clock starts.
        for _ in range(10):
            handle(session, user_id, 10)
        barrier.wait(timeout=60)
        start = time.monotonic()
        deadline = start + seconds
        done = 0
        while done < requests and time.monotonic() < deadline:
            if not handle(session, user_id, 10):
                raise RuntimeError("a request was refused; the benchmark's users have no limits")
            done += 1
        out.put((done, start, time.monotonic()))
    engine.dispose()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=1000000)
    parser.add_argument("--user-prefix", default="py-")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(args.processes)
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(args.dsn, f"{args.user_prefix}{i}", args.seconds, args.requests,
                                              barrier, out))
             for i in range(args.processes)]
    for p in procs:
        p.start()
    results = []
    for _ in procs:
        results.append(out.get(timeout=args.seconds + 120))
    for p in procs:
        p.join(timeout=30)
        if p.exitcode != 0:
            print(f"original_flow.py: a process failed (exit {p.exitcode})", file=sys.stderr)
            sys.exit(1)
    total = sum(r[0] for r in results)
    elapsed = max(r[2] for r in results) - min(r[1] for r in results)
    print(json.dumps({"processes": args.processes, "requests": total, "seconds": round(elapsed, 3),
                      "rate": round(total / elapsed, 1)}))


if __name__ == "__main__":
    main()
