from podnet.cli import main

main()
