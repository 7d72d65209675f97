"""Taking enumerated claims to approval, in the open.

Owns the claim states and their moves (verify, display, approve, return),
public displays and objections, each step checked against the signed-in
person's role and recorded as an event.
May import: core/store, core/register, core/forms, core/submissions.
"""
