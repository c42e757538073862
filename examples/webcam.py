"""Track faces live from a webcam (or a video file) and show, or write, the overlay.

    python examples/webcam.py                     # camera 0, a window where a display exists
    python examples/webcam.py --source clip.mp4 --frames 100 --out overlay.mp4

Press q in the window (or Ctrl-C) to stop. CI runs it on a synthesised clip instead of a camera.
"""

import argparse
import time

import cv2

import edgeface


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="0", help="camera index, /dev/videoN, or a video file (default: 0)")
    parser.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--out", default=None, help="also write the overlay to this video file (mp4v)")
    args = parser.parse_args()
    capture = cv2.VideoCapture(int(args.source) if args.source.isdigit() else args.source)
    if not capture.isOpened():
        raise SystemExit(f"cannot open {args.source}")
    rec = edgeface.Reconstructor("auto")
    tracker = rec.tracker(max_faces=None)
    writer, window, count, start = None, None, 0, time.monotonic()
    try:
        while args.frames is None or count < args.frames:
            ok, frame = capture.read()
            if not ok:
                break
            faces = tracker(frame)  # frames timed at the capture's nominal rate
            overlay = edgeface.draw(frame, faces, attributes=2)
            print(
                f"frame {count}: "
                + ("; ".join(f"track {f.track_id} yaw {f.pose.yaw:+.0f}" for f in faces) or "no face")
            )
            if args.out:
                if writer is None:
                    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), 30, overlay.shape[1::-1])
                writer.write(overlay)
            if window is None:
                try:
                    cv2.imshow("edgeface", overlay)
                    window = True
                except cv2.error:  # headless OpenCV or no display
                    window = False
            elif window:
                cv2.imshow("edgeface", overlay)
            if window and cv2.waitKey(1) & 0xFF == ord("q"):
                break
            count += 1
    except KeyboardInterrupt:
        pass
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    print(f"{count} frames in {time.monotonic() - start:.1f} s, detector ran on {tracker.detector_runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
