"""What the LTI code uses: settings, its table, course data, KMS and its state machine."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from functions.dal.course_repo import CourseRepository
from functions.dal.lti_aws import PassbackWorkflow, SecretBox
from functions.dal.lti_repo import LtiRepository
from functions.settings import Settings


@dataclass
class LtiContext:
    settings: Settings
    repo: LtiRepository

    @classmethod
    def create(cls, settings: Settings) -> LtiContext:
        return cls(settings, LtiRepository(settings))

    @cached_property
    def courses(self) -> CourseRepository:
        return CourseRepository(self.settings)

    @cached_property
    def secrets(self) -> SecretBox:
        return SecretBox(self.settings)

    @cached_property
    def workflow(self) -> PassbackWorkflow:
        return PassbackWorkflow(self.settings)
