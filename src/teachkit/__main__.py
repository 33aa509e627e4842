from teachkit.cli.main import main

main()
