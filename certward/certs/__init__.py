"""Managed certificate slots of services: install, replace, delete, CRLs, events.

The operations are in :mod:`certward.certs.manager`; slots in
:mod:`certward.certs.slots`; change events in :mod:`certward.certs.events`.
"""
