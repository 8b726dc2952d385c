import sys
from nasplug.cli import main
sys.exit(main())
