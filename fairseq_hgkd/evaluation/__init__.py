"""Evaluation: teacher-forced NLL/accuracy/calibration, BLEU/chrF, temperature fitting, reports."""
