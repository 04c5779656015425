from conductor.frontends.cli import main

raise SystemExit(main())
