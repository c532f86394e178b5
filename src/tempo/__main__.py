from tempo.cli import main

main()
