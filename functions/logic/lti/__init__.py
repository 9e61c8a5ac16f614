"""LTI grade pass-back (spec §8): LTI 1.1 outcomes and LTI Advantage scores, with a delivery ledger.

* ``launch``    the LTI 1.1 launch: OAuth 1.0a check, nonce, outcome URL check, the assignment
* ``passback``  ScoreChanged events -> versions bumped, ledger records, sends started
* ``sender``    one send attempt and what the ledger and the state machine do next
* ``scores``    composite scores, from the grade report's own grading code
* ``outcomes``  replaceResult (1.1); ``ags`` AGS score publishes (1.3); ``urls`` SSRF checks
* ``admin``     consumers and platforms, ledger listings, re-sends
"""
