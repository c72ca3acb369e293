from sheetsync.cli import main

raise SystemExit(main())
