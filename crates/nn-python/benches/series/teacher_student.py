"""The student-teacher experiment, in the series' style, on Fashion-MNIST: a teacher
784→16→16→10 LeakyReLU trained with cross-entropy (learning rate 0.03, pixels / 255,
one pass), then six 784→10 LeakyReLU students trained with MSE to output the teacher's raw
output for every training image, at learning rates 0.001 to 0.3. Prints the accuracies.
Runs against whichever module ``nn`` is first on the path.
"""

import os
import time

import numpy as np

import nn
from nn import NeuralNetwork, Layer, LeakyReLU, MSELoss, CrossEntropyLoss
from mnist_data import load_data, to_col

SEED = int(os.environ.get("SEED", "0"))
np.random.seed(SEED)
if hasattr(nn, "seed"):
    nn.seed(SEED)


def test(net, test_data):
    correct = 0
    for row in test_data:
        if np.argmax(net.forward_pass(to_col(row[1:]) / 255)) == row[0]:
            correct += 1
    return 100 * correct / test_data.shape[0]


def train_student(student, teacher, train_data):
    for row in train_data:
        x = to_col(row[1:]) / 255
        student.train(x, teacher.forward_pass(x))


if __name__ == "__main__":
    train_data, test_data = load_data("train"), load_data("test")
    started = time.perf_counter()
    teacher = NeuralNetwork(
        [Layer(784, 16, LeakyReLU()), Layer(16, 16, LeakyReLU()), Layer(16, 10, LeakyReLU())],
        CrossEntropyLoss(),
        0.03,
    )
    for row in train_data:
        teacher.train(to_col(row[1:]) / 255, row[0])
    students = []
    for lr in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3):
        student = NeuralNetwork([Layer(784, 10, LeakyReLU())], MSELoss(), lr)
        train_student(student, teacher, train_data)
        students.append(f"{test(student, test_data):.1f}")
    seconds = time.perf_counter() - started
    print(f"teacher {test(teacher, test_data):.2f}%; students at lr 0.001…0.3: {', '.join(students)}% ({seconds:.1f} s)")
