"""The relational store: users, sessions, jobs, Stripe customers and subscriptions."""
