"""The experiment grid of the paper as resumable steps: data, teacher, baselines, HKD students,
generation and one report. The shell scripts in recipes/ choose settings and call `hgkd-recipe`."""
