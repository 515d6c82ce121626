"""Every form the bot runs, built the way the app builds them (some read the campaign)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.campaign import Campaign
from bot.flows.application import application_form
from bot.flows.broadcast import broadcast_form
from bot.flows.decision import decision_forms
from bot.flows.engine import Done, Forms, Turn
from bot.flows.inquiry import ANSWER, QUESTION
from bot.flows.manual_check import MANUAL_FAIL
from bot.flows.registration import REJECTION, registration_form
from bot.flows.resources import resource_forms
from bot.flows.review import review_forms
from bot.flows.tutoring import tutoring_forms
from storage.models import Submission


def all_forms(campaign: Campaign, on_saved: Callable[[Turn, Submission], Awaitable[Done]]) -> Forms:
    """`on_saved`: the application form's step after saving a draft (the upload handlers' part)."""
    return Forms(registration_form(campaign), REJECTION, application_form(campaign, on_saved),
                 QUESTION, ANSWER, MANUAL_FAIL, *review_forms(campaign), *decision_forms(campaign),
                 *tutoring_forms(campaign), *resource_forms(campaign), broadcast_form(campaign))
