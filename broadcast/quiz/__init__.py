"""Quizzes and short surveys: questions a campaign asks by SMS replies and by keypad, answers, scores, results."""
