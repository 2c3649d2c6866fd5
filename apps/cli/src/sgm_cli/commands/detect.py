"""`sgm detect FILE...`: whether images carry the invisible watermark."""

import argparse
import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="check images for the invisible watermark",
        description="Check images for the invisible watermark that sgm and the reference embed in what they "
        "generate (48 bits, DWT-DCT). Check images at the size they were generated; resizing, cropping and lossy "
        "compression weaken it, and images with little colour detail may not hold it at all.",
    )
    parser.add_argument("files", metavar="FILE", nargs="+", help="image files (PNG, JPEG, ...)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgm.core.errors import SgmError
    from sgm.core.watermark import detect_watermark

    status = 0
    for file in args.files:
        try:
            detection = detect_watermark(file)
        except SgmError as error:
            print(f"sgm: error: {error}", file=sys.stderr)
            status = 2
            continue
        verdict = "watermark present" if detection.present else "no watermark"
        print(f"{file}: {verdict} ({detection.matched_bits}/{detection.total_bits} bits match)")
    return status
