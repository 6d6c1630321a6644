"""The answer key: the fact tables, the predict-then-explain answers and rebuttals, and the model
answers `ukva key` prints. It lives in the course's checkout only: setup.py leaves this package out of
the wheel, so a student's installation holds no right answer to read (sealed.py says what it holds
instead). The rubrics of manually graded items are in the solution notebooks.
"""

# The salt of sealed.json's hashes (public: it only makes tables precomputed elsewhere useless).
SALT = "9dcb600a724d22e803eb8987348e24ba"
