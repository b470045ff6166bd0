"""`hgkd-user-dir`: print the directory to pass to fairseq's --user-dir."""
import os


def main() -> None:
    import fairseq_hgkd

    print(os.path.dirname(os.path.abspath(fairseq_hgkd.__file__)))


if __name__ == "__main__":
    main()
