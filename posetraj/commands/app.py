"""``posetraj app``: the interactive app (Gradio) to draw trajectories and generate or render them.

    posetraj app --svd SVD_DIR --controlnet CN_DIR            # http://127.0.0.1:7860
    posetraj app --model translate --examples out/demo/renders

Binds to 127.0.0.1 unless ``--host`` says otherwise. SIGINT and SIGTERM stop the server and every render
it started. Needs the ``app`` extra (gradio).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 exposes the app to the network: it can run any "
                             "module:function and read local folders)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--svd", default="", help="local diffusers SVD img2vid folder (prefilled in the page)")
    parser.add_argument("--controlnet", default="", help="saved Traj-ControlNet folder (prefilled in the page)")
    parser.add_argument("--model", default="",
                        help="a benchmark adapter to select instead of PoseTraj: static, translate, "
                             "package.module:function or an entry point")
    parser.add_argument("--device", default="auto", help="PoseTraj's device: cpu, cuda, cuda:1 or auto")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--out", type=Path, default=Path("out/app"),
                        help="where generated videos (runs/), rendered clips (clips/) and the default suite go")
    parser.add_argument("--examples", type=Path, nargs="*", default=[], metavar="DIR",
                        help="folders of rendered clips whose first frames join the example images")
    parser.add_argument("--catalog", type=Path, help="asset catalog folder: its --catalog-split assets can be rendered")
    parser.add_argument("--catalog-split", default="train", help="catalog split offered in render mode")
    parser.add_argument("--render-timeout", type=float, default=900.0, metavar="SECONDS",
                        help="wall-clock limit of one render")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves this machine
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not 0 < args.port < 65536:
        print(f"error: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    if not args.render_timeout > 0:
        print(f"error: --render-timeout must be > 0 seconds, got {args.render_timeout:g}", file=sys.stderr)
        return 2
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("error: the app needs gradio: pip install 'posetraj[app]'", file=sys.stderr)
        return 2
    from posetraj.app.layout import AppConfig, build_app
    from posetraj.app.render_mode import stop_renders

    assets: tuple[str, ...] = ()
    try:
        if args.catalog is not None:
            from assets_catalog.splits import split_assets

            assets = tuple(split_assets(args.catalog, args.catalog_split))
        config = AppConfig(out=args.out, svd=args.svd, controlnet=args.controlnet, model=args.model,
                           device=args.device, dtype=args.dtype, example_dirs=tuple(args.examples), assets=assets,
                           render_timeout_s=args.render_timeout)
        demo = build_app(config)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    def stop(signum, frame):  # SIGTERM ends the server like Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        demo.queue().launch(server_name=args.host, server_port=args.port, allowed_paths=[str(args.out.resolve())],
                            show_error=True, footer_links=[])
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # e.g. the port is taken
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_renders()
        demo.close()
    return 0
