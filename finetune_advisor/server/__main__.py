from finetune_advisor.server.cli import main

raise SystemExit(main())
