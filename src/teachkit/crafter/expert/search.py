"""The scripted expert's search kernels (numba): one breadth-first search over (cell, facing) states per step, and
the choice of a two-cell pocket to wall in for the night.

A state is (x, y, facing) packed as ((x * H + y) << 2) | facing; states N.. 2N-1 are "the cell in front was just dug
out", reached by "do" and left by moving into that cell.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from teachkit.crafter.expert.world import DIRS, OPPOSITE

# Facing index d = 0..3 is left, right, up, down (see DIRS); numba reads these arrays as compile-time constants.
_DX = np.array([dx for dx, _ in DIRS], np.int64)
_DY = np.array([dy for _, dy in DIRS], np.int64)
_OPPOSITE_ARR = np.array(OPPOSITE, np.int64)


@njit(cache=True)
def begin_search(start, dist, first, queue, ctrl):
    """Start a new search from state `start`; ctrl holds (head, tail) of the BFS queue."""
    dist[:] = -1
    dist[start] = 0
    first[start] = -1
    queue[0] = start
    ctrl[0] = 0
    ctrl[1] = 1
    ctrl[2] = start


@njit(cache=True)
def query_search(mat, occ, walk, mine, avoid, dist, first, queue, ctrl, mask, stand, facing, max_depth):
    """The nearest state (in BFS order) that faces a mask cell from a stand cell (facing=True), or that stands
    on a mask cell (facing=False). The search grows only as far as needed and resumes where the previous query
    of the same step stopped. Returns the state, or -1 when none is within max_depth steps.

    Expanding a state: a move into a free walkable cell walks; a move towards anything else only turns, except
    towards lava, which is never taken (it would walk into the lava); "do" on a diggable cell in front leads to
    the "dug" twin state N + u, whose only move steps into the dug cell.
    """
    width, height = mat.shape
    n = width * height * 4
    start = ctrl[2]
    head = ctrl[0]
    tail = ctrl[1]
    i = 0
    while True:
        while i < tail:
            u = queue[i]
            if dist[u] > max_depth:
                ctrl[0] = head
                ctrl[1] = tail
                return -1
            if u < n:
                cell = u >> 2
                x = cell // height
                y = cell - x * height
                if facing:
                    f = u & 3
                    tx = x + _DX[f]
                    ty = y + _DY[f]
                    if 0 <= tx < width and 0 <= ty < height and mask[tx, ty] and stand[x, y]:
                        ctrl[0] = head
                        ctrl[1] = tail
                        return u
                elif mask[x, y]:
                    ctrl[0] = head
                    ctrl[1] = tail
                    return u
            i += 1
        if head >= tail:
            ctrl[0] = head
            ctrl[1] = tail
            return -1
        u = queue[head]
        head += 1
        du = dist[u] + 1
        if u < n:
            cell = u >> 2
            f = u & 3
            x = cell // height
            y = cell - x * height
            for d in range(4):
                nx = x + _DX[d]
                ny = y + _DY[d]
                if nx < 0 or ny < 0 or nx >= width or ny >= height:
                    continue
                m = mat[nx, ny]
                if avoid[m]:
                    continue
                if walk[m] and not occ[nx, ny]:
                    v = ((nx * height + ny) << 2) | d
                elif d == f:
                    continue
                else:
                    v = (cell << 2) | d
                if dist[v] < 0:
                    dist[v] = du
                    first[v] = first[u] if u != start else 1 + d
                    queue[tail] = v
                    tail += 1
            fx = x + _DX[f]
            fy = y + _DY[f]
            if 0 <= fx < width and 0 <= fy < height and mine[mat[fx, fy]] and not occ[fx, fy]:
                v = n + u
                if dist[v] < 0:
                    dist[v] = du
                    first[v] = first[u] if u != start else 5
                    queue[tail] = v
                    tail += 1
        else:
            w = u - n
            f = w & 3
            cell = w >> 2
            x = cell // height
            y = cell - x * height
            v = (((x + _DX[f]) * height + (y + _DY[f])) << 2) | f
            if dist[v] < 0:
                dist[v] = du
                first[v] = first[u] if u != start else 1 + f
                queue[tail] = v
                tail += 1


@njit(cache=True)
def find_pocket(mat, occ, dist, open_lut, solid, placeable, danger, water, stones, px, py, near_x, near_y, near_r):
    """The cheapest two-cell pocket to sleep in: cells Y and A = Y + d, entered from X = A + d.

    The five outer neighbours of Y and A must be solid (zombies walk on grass, sand and path only) or free cells
    a stone can go on; X is sealed last, from A, after stepping Y -> A so the player faces X. Y and A may be stone
    to dig out. Returns (ax, ay, d, missing walls) or (-1, ...).
    """
    width, height = mat.shape
    best = 1 << 30
    bx = -1
    by = -1
    bd = -1
    bmiss = -1
    for ax in range(2, width - 2):
        for ay in range(2, height - 2):
            if occ[ax, ay] or not open_lut[mat[ax, ay]] or danger[mat[ax, ay]]:
                continue
            if near_r > 0 and abs(ax - near_x) + abs(ay - near_y) > near_r:
                continue
            for d in range(4):
                dx = _DX[d]
                dy = _DY[d]
                yx = ax - dx
                yy = ay - dy
                xx = ax + dx
                xy = ay + dy
                if occ[yx, yy] or not open_lut[mat[yx, yy]] or danger[mat[yx, yy]]:
                    continue
                mx = mat[xx, xy]
                if danger[mx] or occ[xx, xy] or not open_lut[mx]:
                    continue
                state = ((ax * height + ay) << 2) | _OPPOSITE_ARR[d]
                reach = dist[state]
                if reach < 0:
                    continue
                missing = 0
                wet = 0
                ok = True
                for k in range(5):
                    if k == 0:
                        wx = yx - dx
                        wy = yy - dy
                    elif k == 1:
                        wx = yx + dy
                        wy = yy + dx
                    elif k == 2:
                        wx = yx - dy
                        wy = yy - dx
                    elif k == 3:
                        wx = ax + dy
                        wy = ay + dx
                    else:
                        wx = ax - dy
                        wy = ay - dx
                    m = mat[wx, wy]
                    if danger[m]:
                        ok = False
                        break
                    if m == water:
                        wet = 1
                    if solid[m]:
                        continue
                    if placeable[m] and not occ[wx, wy] and not (wx == px and wy == py):
                        missing += 1
                    else:
                        ok = False
                        break
                if not ok:
                    continue
                need = missing + (0 if solid[mx] else 1)
                if need > stones:
                    continue
                score = reach + 10 * missing + (2 if not open_lut[mat[yx, yy]] else 0) - 12 * wet
                if score < best:
                    best = score
                    bx = ax
                    by = ay
                    bd = d
                    bmiss = missing
    return bx, by, bd, bmiss
