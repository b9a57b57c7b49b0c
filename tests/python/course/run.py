"""Runs one of the course's scripts unchanged against a broker on another port.

The course's scripts connect to `localhost` on AMQP's default port; the tests' broker listens
on a free port, so this sets pika's default port to it, then runs the script as it is.

    python run.py PORT SCRIPT
"""
import runpy
import sys

import pika.connection

pika.connection.Parameters.DEFAULT_PORT = int(sys.argv[1])
runpy.run_path(sys.argv[2], run_name="__main__")
