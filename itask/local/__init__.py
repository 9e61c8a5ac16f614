"""The embedded local stack: moto as AWS, our handlers invoked in-process."""
