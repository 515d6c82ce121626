"""What waits for the operators: counts for their /start and their daily digest. No aiogram here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import resources, rounds
from storage.models import (
    Inquiry,
    Registration,
    ResourceRequest,
    ReviewRound,
    Submission,
    SubmissionFile,
    Tutorship,
)
from storage.statuses import (
    FileStatus,
    InquiryStatus,
    RegistrationStatus,
    SubmissionStatus,
    TutorshipStatus,
)


@dataclass(frozen=True)
class Waiting:
    registrations: int  # scans received, waiting for a decision (/pending)
    big_files: int  # files too big to check here, waiting for a check by hand (/bigfiles)
    questions: int  # questions not answered yet (/questions)
    reviews: int = 0  # review rounds waiting for reviewers or for a decision (/review_queue)
    tutoring: int = 0  # creators waiting for a tutor (/tutoring)
    requests: int = 0  # resource requests nobody has taken yet (/requests)

    @property
    def total(self) -> int:
        return self.registrations + self.big_files + self.questions + self.reviews + self.tutoring + self.requests


async def waiting(session: AsyncSession, reviewers: int = 2) -> Waiting:
    """The counts in one round trip (scalar subqueries), for the operators' welcome. `reviewers`:
    how many submitted reviews make a round ready for a decision (the campaign's review.reviewers)."""
    registrations = (select(func.count()).select_from(Registration)
                     .where(Registration.status == RegistrationStatus.pending_review).scalar_subquery())
    big_files = (select(func.count()).select_from(SubmissionFile).join(Submission)
                 .where(SubmissionFile.check_status == FileStatus.deep_pending,
                        Submission.status != SubmissionStatus.withdrawn).scalar_subquery())
    questions = (select(func.count()).select_from(Inquiry).where(Inquiry.status == InquiryStatus.open)
                 .scalar_subquery())
    # what /review_queue lists as short of reviewers or to decide (the round's own counters)
    review_rounds = (select(func.count()).select_from(ReviewRound).join(Submission)
                     .where(rounds.in_review(),
                            rounds.short_of_reviewers(reviewers) | rounds.all_reviews_in(reviewers))
                     .scalar_subquery())
    tutoring = (select(func.count()).select_from(Tutorship).where(Tutorship.status == TutorshipStatus.waiting)
                .scalar_subquery())
    nobody_yet = resources.FILTERS[resources.NOBODY_YET]  # what the /start button opens
    requests = (select(func.count()).select_from(ResourceRequest).where(ResourceRequest.status.in_(nobody_yet))
                .scalar_subquery())
    row = (await session.execute(select(registrations, big_files, questions, review_rounds, tutoring, requests))).one()
    return Waiting(*row)
